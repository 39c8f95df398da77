"""Scenario modules: one lost-update scenario each, exposing ``SCENARIO``."""
