"""Autograding students' loss code on Gradescope, PrairieLearn or a laptop.

Students hand in code, not submission JSON: this package reads an instructor's assignment file
(:mod:`.assignment`), runs each student's functions in a separate, limited process
(:mod:`.sandbox`, :mod:`.worker`), converts what they return (:mod:`.convert`), grades it with the
same grading as ``/compare`` (:mod:`.runner`), writes each platform's result document
(:mod:`.results`), builds upload-ready bundles (:mod:`.bundle`) and gives students a self-check
(:mod:`.cli`: ``loss-service autograder run|init`` and ``loss-service check``).

It may import, of the service, :mod:`service.grading`, :mod:`service.losses`,
:mod:`service.engine` and the version; never the HTTP layer (it runs where no server does).
tests/ops/test_layout.py checks it.
"""
