// The XML bodies S3 answers with, parsed with libexpat (a streaming C parser
// every Debian system already has; a listing needs no DOM).
#pragma once

#include <string>
#include <string_view>

#include "store/object_store.h"

namespace katamari {

// A ListObjectsV2 reply (ListBucketResult): Contents/Key and Contents/Size in
// `page->objects` (keys as the server sent them), NextContinuationToken when
// IsTruncated is true. Corruption if the body is not such XML.
Status ParseS3ListReply(std::string_view xml, ObjectListPage* page);

// An <Error> reply: "Code: Message", or "" if the body is not one.
std::string ParseS3Error(std::string_view xml);

}  // namespace katamari
