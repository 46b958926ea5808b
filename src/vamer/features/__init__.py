"""Stage 3 of vamer: utterance table -> model inputs (audio features, text encodings, splits,
augmentation, cache).  Start with :class:`vamer.features.store.FeatureStore`."""
