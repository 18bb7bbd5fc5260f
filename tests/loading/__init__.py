"""Tests of compliance.loading."""
