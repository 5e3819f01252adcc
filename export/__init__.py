"""Exporters: SavedModel, TF-Hub module, TFLite (and, later, TF.js) from project weights."""
