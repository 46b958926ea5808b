"""The embedded SYNTHETIC demo corpus in KEMDy20's layout (``vamer data demo``)."""

from vamer.data.demo.corpus import generate_demo

__all__ = ["generate_demo"]
