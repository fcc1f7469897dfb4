"""Customer segmentation and value: features, RFM, K-Means segments, profiles, CLV.

Everything in this package is plain pandas / numpy / scipy / scikit-learn code with no
Dagster import, so the same functions run inside assets, in the benchmark and in tests.
Heavy libraries (scikit-learn, scipy, seaborn) are imported inside the functions that use
them, so importing this package when the code location loads stays cheap.

Map of the package (one concern per module):

- ``settings``: the knobs of every step (the launchpad configs are generated from them).
- ``features``: one row per customer: recency, frequency, net spend (void lines count
  nowhere, returns and cancellations are netted), basket, tenure, return rate, category
  shares, favourite shop and city, demographics.
- ``rfm``: R, F and M quintile scores, the three-digit code and the named-segment map.
- ``encoding``: the feature matrix K-Means sees (log for skewed amounts, z-scores,
  one-hot and ordinal encodings), fitted once and stored with the model.
- ``clustering``: K-Means with a fixed k or ``auto`` (silhouette), reuse of the registered
  model, drift, and segment ids that keep their meaning across retrains (Hungarian).
- ``profiles``: per segment size, share, feature means / medians / z-scores, centre and a
  generated plain-language name and description.
- ``business``: the same segmentation for uploaded business-customer profiles (retailers a
  manufacturer supplies): ordinals in their natural order, own registry name
  ``profile_segments``, plain-language names from area, age, income, education and city.
- ``value``: BG/NBD and Gamma-Gamma fitted by maximum likelihood (scipy), expected
  purchases and spend, P(alive), intervals, and the calibration / holdout validation.
- ``charts``: segment map, profile heatmap, RFM grid, silhouette by k, value distribution,
  holdout calibration.
"""
