//! Integration tests of the series index.
