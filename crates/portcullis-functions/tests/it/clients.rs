//! Unmodified real runtime clients against the emulator.
