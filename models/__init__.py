"""Dense models, one file per family, built from `conf/model/*.yaml` through `_target_`."""
