"""Everything pluto knows about a kernel, above the backends: the
backend-neutral types (:mod:`.types`), the one route into the kernel
(:mod:`.port`), the record of what this daemon installed (:mod:`.owned`),
the operator sentences for kernel errors (:mod:`.errors`) and the hooks a
backend implements (:mod:`.hookspecs`). See docs/kernel.md."""
