"""Code that runs INSIDE a sandboxed child, beside the student's package.

Copied into the job folder alone; imports the standard library and NumPy only, never
``autograder``. Nothing it writes is believed beyond the plain arrays the parent reads back.
"""
