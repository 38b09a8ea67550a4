"""Thin views: parse the request, pass the chokepoint, call a service or selector, render."""
