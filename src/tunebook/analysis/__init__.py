"""Analysis: pure functions from stored trials to plain data (dataclasses).

Renderers (CLI tables, reports) turn this data into text; nothing here prints.
"""

from tunebook.analysis.isolation import ValueBest, best_per_value
from tunebook.analysis.overview import StudyOverview, find_trial, overview, study_overview

__all__ = ["StudyOverview", "ValueBest", "best_per_value", "find_trial", "overview",
           "study_overview"]
