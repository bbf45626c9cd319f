"""Analysis of the run history: per recipe and per step figures, and findings (regressions, change
points, anomalies, flaky steps) each with its evidence. Pure: records in, an ``Analysis`` out;
``f0 analyze`` reads the records through ``framework0.history`` and writes the exports."""
