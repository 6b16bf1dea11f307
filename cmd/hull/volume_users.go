package main

// volumeUsers returns, for each volume name, the IDs of the containers
// that use the volume (from the container store). volume rm refuses to
// remove a volume with users, volume prune skips it, and volume ls
// --filter dangling=true lists the volumes without any.
func (c *cli) volumeUsers() (map[string][]string, error) {
	cs, err := c.containerStore()
	if err != nil {
		return nil, err
	}
	recs, err := cs.List()
	if err != nil {
		return nil, err
	}
	return volumeUsersOf(recs), nil
}
