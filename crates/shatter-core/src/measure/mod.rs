//! Measurements of trained networks (SCIENCE.md sections 4 to 6).
