#!/usr/bin/env bash
# CLI tests: filled in by the issue-2 work.
exit 0
