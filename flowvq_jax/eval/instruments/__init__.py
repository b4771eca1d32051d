"""Instruments independent of the models: emotion classifiers and the landmark regressor."""
