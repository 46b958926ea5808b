"""Stage 5 of vamer: Lightning modules, the data module and the stage runners."""
