"""Compression methods. Each is a `methods.base.Method` selected by `conf/method/NAME.yaml`."""
