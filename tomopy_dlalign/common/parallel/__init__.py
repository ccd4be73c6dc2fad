"""CPU parallelism shared by both packages: how many threads torch and the BLAS
libraries get (:mod:`.threads`, light enough for the command lines' start-up), and the
work-sharing helper threads that loops cut into pieces use (:mod:`.workers`: MLEM, FBP,
the projectors and the phasing kernels)."""
