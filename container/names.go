package container

import (
	"crypto/rand"
	"math/big"
)

// Words for generated names: a quality and a seafaring noun, in keeping
// with the project's name. Our own lists, not Docker's.
var (
	nameQualities = []string{
		"agile", "amber", "ardent", "azure", "bold", "brave", "breezy", "bright",
		"calm", "candid", "clever", "cosmic", "crisp", "curious", "daring", "deft",
		"eager", "earnest", "fair", "fearless", "fleet", "gentle", "glad", "golden",
		"hardy", "hearty", "humble", "jolly", "keen", "kind", "lively", "loyal",
		"lucid", "merry", "mighty", "nimble", "noble", "patient", "plucky", "proud",
		"quick", "quiet", "rapid", "ready", "robust", "rugged", "serene", "sharp",
		"shiny", "silent", "sleek", "snappy", "solid", "spry", "steady", "sturdy",
		"sunny", "swift", "tidy", "tranquil", "trusty", "vivid", "wise", "zesty",
	}
	nameNouns = []string{
		"anchor", "barge", "beacon", "berth", "bosun", "bow", "buoy", "cabin",
		"capstan", "cargo", "compass", "corsair", "cove", "current", "cutter", "deck",
		"dinghy", "dock", "dory", "ferry", "fjord", "galley", "gull", "harbor",
		"haven", "helm", "inlet", "island", "jetty", "keel", "ketch", "lagoon",
		"lantern", "lighthouse", "mariner", "mast", "navigator", "oar", "pier", "pilot",
		"port", "quay", "reef", "rigging", "rudder", "sail", "schooner", "sextant",
		"shoal", "skiff", "sloop", "sound", "spinnaker", "starboard", "tide", "tiller",
		"trawler", "voyager", "wake", "wave", "wharf", "whaler", "windlass", "yawl",
	}
)

// generateName returns a random "quality_noun" name; after a few
// collisions the caller appends a digit, as Docker does.
func generateName(retry int) string {
	name := pick(nameQualities) + "_" + pick(nameNouns)
	if retry > 0 {
		n, _ := rand.Int(rand.Reader, big.NewInt(10))
		name += n.String()
	}
	return name
}

func pick(words []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	if err != nil {
		return words[0]
	}
	return words[n.Int64()]
}
