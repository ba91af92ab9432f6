"""Timing: the tracker plugin, the fold of reports into a run record, the history of runs.

Data flows tracker -> collect -> run_record -> history; JUnit import and the durations export
read and write the same formats. Nothing here imports the gate, the report or the CLI.
"""
