"""Reader studies: a web app for reading cases with and without AI, stored in SQLite or
PostgreSQL, with export of the ratings for MRMC analysis."""

from livermets.readers.app import create_app
from livermets.readers.config import ReaderStudyFile, load_study_file
from livermets.readers.export import export_ratings, ratings_frame
from livermets.readers.simulate import simulate_ratings

__all__ = ["ReaderStudyFile", "create_app", "export_ratings", "load_study_file",
           "ratings_frame", "simulate_ratings"]
