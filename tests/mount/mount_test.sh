#!/usr/bin/env bash
# Mount tests: filled in by the issue-3 work.
exit 0
