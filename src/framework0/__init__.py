"""Framework0: recipes of Python scriptlets run as a parallel DAG."""
