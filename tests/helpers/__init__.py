"""Builders the tests share (data trees, configs, weight files, small networks); no tests here."""
