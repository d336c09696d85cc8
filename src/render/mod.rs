//! Rendering a plan for people (text), machines (JSON) and pull requests (Markdown).
