//! Host-side consistency checks for the Android platform files (see tests/).
