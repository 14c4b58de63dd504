package identity

import "go.etcd.io/bbolt"

// ConsumeAnswer returns what marks the consent event of the answer to
// prompt promptID consumed, for the transaction that commits the event's
// effects (host.AppEvent.Consume): the kept answer is forgotten, so
// Redeliver does not hand it over again. Forgetting an unknown prompt is
// not an error.
func (s *Service) ConsumeAnswer(promptID string) func(*bbolt.Tx) error {
	return func(tx *bbolt.Tx) error { return tx.Bucket(bucketAnswers).Delete([]byte(promptID)) }
}
