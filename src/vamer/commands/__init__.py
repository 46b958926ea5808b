"""The command layer: one module per training command, each given one :class:`~vamer.commands.config.RunConfig`.

- :mod:`~vamer.commands.run`: ``vamer run`` (features -> baselines -> folds x seeds -> metrics,
  report, bundle; resumable);
- :mod:`~vamer.commands.sweep`: ``vamer sweep`` (one run per encoder depth pair);
- :mod:`~vamer.commands.train`: ``vamer train`` (one stage on one fold);
- :mod:`~vamer.commands.baseline`: ``vamer baseline``;
- :mod:`~vamer.commands.folds`: the features and folds they all start from (``vamer features``).

:mod:`vamer.cli` only parses the command line into a RunConfig and calls these.
"""
