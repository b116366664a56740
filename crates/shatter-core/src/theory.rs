//! Predictions of the theory (SCIENCE.md sections 4 and 6).
