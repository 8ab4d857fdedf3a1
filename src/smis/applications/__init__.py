"""What the per-class codes are for (SPEC §9): re-sample, transfer or interpolate one class."""

from .editing import class_channels, interpolate_codes, resample_class, transfer_class

__all__ = ["class_channels", "interpolate_codes", "resample_class", "transfer_class"]
