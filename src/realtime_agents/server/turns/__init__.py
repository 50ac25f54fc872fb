"""Turn taking beyond silence: semantic end of turn, false-interruption recovery, echo gating.

Sans-I/O pieces the session core and the pipeline use: `completion` (is this transcript a
finished utterance?), `semantic` (the `semantic_vad` turn detector), `playout` (where the
assistant's audio plays on the input timeline), `echo` (does a frame of input hold only the
assistant's own voice?) and `interruptions` (pause, then resume or interrupt).
"""
