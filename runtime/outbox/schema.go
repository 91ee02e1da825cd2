package outbox

import (
	"context"

	"github.com/flowbot/flowbot/runtime/schema"
)

// SchemaVersion is the schema version this package writes: flowbot's one
// schema (runtime/schema), whose migrations also create platform mode's
// tables and the flow versions.
var SchemaVersion = schema.Version

// migrate brings the schema to SchemaVersion (runtime/schema).
func (s *Store) migrate(ctx context.Context) error {
	return schema.Migrate(ctx, s.raw, s.d.postgres)
}
