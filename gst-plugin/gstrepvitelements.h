/* gstrepvitelements.h — element registration declarations. */
#ifndef GST_REPVIT_ELEMENTS_H
#define GST_REPVIT_ELEMENTS_H

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (repvityolo);
GST_ELEMENT_REGISTER_DECLARE (repvitoverlay);
GST_ELEMENT_REGISTER_DECLARE (repvitjson);
GST_ELEMENT_REGISTER_DECLARE (repvittrack);

G_END_DECLS
#endif
