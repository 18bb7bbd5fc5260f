"""Tests of compliance.cli."""
