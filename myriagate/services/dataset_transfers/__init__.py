"""Datasets into and out of a researcher's file areas (issue #17): "save as dataset" and "copy
dataset here", asked through ``requests`` and run by the worker through ``runner``."""
