"""Data set loaders, one module per data set; Hydra's `_target_` in conf/dataset/<name>.yaml picks one."""
