# A Dockerfile outside the context root with another name (-f
# build/app.Dockerfile), with its own ignore file build/app.Dockerfile.dockerignore
# that takes precedence over the context's .dockerignore.
FROM busybox
COPY *.txt /files/
