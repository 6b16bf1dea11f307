// Package buildctx is the file side of `hull build`: the build context
// (a directory, or a tar stream unpacked safely into one, filtered by
// .dockerignore) and the COPY and ADD instructions that take files from it.
//
// A [CopySpec] describes one COPY or ADD. [Context.Checksum] digests what
// the instruction would copy, for the build cache; [Context.WriteLayer]
// writes the layer tar that applies it onto the image below, following
// BuildKit's rules (the behaviour `docker build` has today). Source paths
// never leave the context: ".." and absolute paths clamp to its root and a
// symlink named as a source is followed as if the context were the root
// of the file system. Symlinks inside copied directories are copied as
// they are. [FetchURL] downloads the file of an ADD <url>.
package buildctx
