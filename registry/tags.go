package registry

import (
	"context"
	"fmt"
	"sort"

	"github.com/hull-project/hull/reference"
)

// ListTags returns the tags of repo's repository in the registry, sorted.
func ListTags(ctx context.Context, repo reference.Reference, opts Options) ([]string, error) {
	c, err := newClient(ctx, repo, opts, []string{"pull"}, nil)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo.FamiliarRepository(), err)
	}
	tags, err := c.listTags(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo.FamiliarRepository(), err)
	}
	sort.Strings(tags)
	return tags, nil
}
