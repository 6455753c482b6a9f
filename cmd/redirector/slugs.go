package main

import (
	"context"
	"log/slog"

	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/store"
)

// indexSlugs gives the custom slugs already stored their entry for matching ignoring case
// (store.Records.IndexSlugs), in the background at start: until it is done, such a slug answers its
// exact spelling only, as before. Ids of a random id's form (8 letters and digits) are left out: a
// random id stays case-sensitive.
func indexSlugs(ctx context.Context, records *store.Records, logger *slog.Logger) {
	n, err := records.IndexSlugs(ctx, func(id string) bool { return shortid.Classify(id) == shortid.KindSlug })
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("index slugs", "err", err)
		}
		return
	}
	logger.Debug("index slugs", "slugs", n)
}
