"""Benchmarks run by ``make bench``; each module measures one thing and returns a report section."""
