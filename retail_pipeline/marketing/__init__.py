"""Marketing: channel ROI, conversion, reach and CTR forecasts, a media-mix model and budget
recommendations on the fitted response curves (plain logic; wiring in ``defs/marketing``).

- ``transforms``: geometric and Weibull adstock, Hill saturation;
- ``mmm``: the media-mix model (search, time-series validation, ridge, bootstrap);
- ``allocate``: budget allocation and the target-efficiency mode;
- ``channels``: channel metrics and their forecast through ``retail_pipeline.forecasting``;
- ``tables``: the warehouse frames; ``charts``: the seaborn charts;
- ``wide``: wide exports (Robyn, Meridian) to long spend rows and an outcomes series;
- ``synthetic``: data with a planted truth (sample generator, tests, benchmark).
"""
