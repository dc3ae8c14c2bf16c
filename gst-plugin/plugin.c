/* plugin.c — registers the repvityolo plugin's elements. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstrepvitelements.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (repvityolo, plugin);
  ret |= GST_ELEMENT_REGISTER (repvitoverlay, plugin);
  ret |= GST_ELEMENT_REGISTER (repvitjson, plugin);
  ret |= GST_ELEMENT_REGISTER (repvittrack, plugin);

  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, repvityolo,
    "RepViT-YOLO11 object detection on the CPU, with overlay and JSON export",
    plugin_init, PACKAGE_VERSION, "LGPL", PACKAGE, PACKAGE_ORIGIN)
