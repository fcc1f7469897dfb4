"""Tests of customer segmentation and value."""
