"""Curriculum reprocessing (``/api/reprocess/*``): find what is wrong in a UMCF document and fix what can
be fixed without a language model."""
