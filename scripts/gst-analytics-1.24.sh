#!/usr/bin/env bash
# Builds GStreamer 1.24's analytics metadata library (gst-plugins-bad's
# gst-libs/gst/analytics, unmodified but for one registration call, below)
# against the system's GStreamer 1.22 into a private prefix with a
# gstreamer-analytics-1.0.pc, so that the HAVE_GST_ANALYTICS code of the
# plugin can be built and tested on Debian 12 (see README, "GStreamer 1.24
# analytics metadata"). Not part of CI; nothing is copied into this repository.
#
# Usage: scripts/gst-analytics-1.24.sh SOURCE [PREFIX]
#   SOURCE  a GStreamer 1.24 source tree: the monorepo at a 1.24.x tag
#           (git clone -b 1.24.13 https://gitlab.freedesktop.org/gstreamer/gstreamer)
#           or an unpacked gst-plugins-bad-1.24.x tarball
#   PREFIX  where to install (default /tmp/gst-analytics-1.24)
#
# The one change: GstAnalyticsRelationMeta registers itself with
# gst_meta_info_new (), gst_meta_info_register () and a GstMetaInfo.clear_func,
# all new in GStreamer core 1.24. Here it is registered with 1.22's
# gst_meta_register () instead, without clear_func (1.24's buffer pools call
# it to reset a pooled meta; 1.22's never do). Nothing else in the library
# needs more than GStreamer 1.22.
set -euo pipefail

src=${1:?usage: $0 GSTREAMER_1_24_SOURCE [PREFIX]}
prefix=${2:-/tmp/gst-analytics-1.24}
for d in "$src/subprojects/gst-plugins-bad" "$src"; do
  if [ -f "$d/gst-libs/gst/analytics/gstanalyticsmeta.c" ]; then
    bad=$d
    break
  fi
done
if [ -z "${bad:-}" ]; then
  echo "$0: no gst-libs/gst/analytics in $src" >&2
  exit 1
fi
version=$(sed -n "s/^ *version *: *'\([0-9.]*\)'.*/\1/p" "$bad/meson.build" | head -n 1)
case $version in
  1.2[4-9].* | 1.[3-9]*.*) ;;
  *) echo "$0: $bad is GStreamer '$version', not 1.24 or later" >&2; exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/gst"
cp -r "$bad/gst-libs/gst/analytics" "$work/gst/"

/usr/bin/python3 - "$work/gst/analytics/gstanalyticsmeta.c" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
old = '''    GstMetaInfo *meta = gst_meta_info_new (GST_ANALYTICS_RELATION_META_API_TYPE,
        "GstAnalyticsRelationMeta",
        sizeof (GstAnalyticsRelationMeta));
    meta->init_func = gst_analytics_relation_meta_init;
    meta->free_func = gst_analytics_relation_meta_free;
    meta->transform_func = gst_analytics_relation_meta_transform;
    meta->clear_func = gst_analytics_relation_meta_clear;
    meta = (GstMetaInfo *) gst_meta_info_register (meta);
'''
new = '''    const GstMetaInfo *meta =
        gst_meta_register (GST_ANALYTICS_RELATION_META_API_TYPE,
        "GstAnalyticsRelationMeta", sizeof (GstAnalyticsRelationMeta),
        gst_analytics_relation_meta_init, gst_analytics_relation_meta_free,
        gst_analytics_relation_meta_transform);
'''
if text.count(old) != 1:
    sys.exit(path + ": the 1.24 registration code was not found once")
open(path, "w").write(text.replace(old, new))
EOF

lib=libgstanalytics-1.0.so
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include/gstreamer-1.0/gst/analytics"
# -Wno-unused-function: gst_analytics_relation_meta_clear has no caller on 1.22
cc -shared -fPIC -O2 -g -Wall -Wno-unused-function -std=gnu99 \
  -DGST_USE_UNSTABLE_API -DBUILDING_GST_ANALYTICS \
  -DG_LOG_DOMAIN='"GStreamer-Analytics"' -I"$work" \
  $(pkg-config --cflags gstreamer-video-1.0) \
  "$work"/gst/analytics/*.c -Wl,-soname,$lib.0 -Wl,--no-undefined \
  $(pkg-config --libs gstreamer-video-1.0) -o "$prefix/lib/$lib.0"
ln -sf $lib.0 "$prefix/lib/$lib"
cp "$work"/gst/analytics/*.h "$prefix/include/gstreamer-1.0/gst/analytics/"
cat > "$prefix/lib/pkgconfig/gstreamer-analytics-1.0.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include/gstreamer-1.0

Name: gstreamer-analytics-1.0
Description: GStreamer $version analytics metadata library, built against GStreamer $(pkg-config --modversion gstreamer-1.0)
Version: $version
Requires: gstreamer-1.0 gstreamer-base-1.0
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lgstanalytics-1.0
Cflags: -I\${includedir}
EOF
echo "installed gstreamer-analytics-1.0 $version into $prefix"
echo "use: PKG_CONFIG_PATH=$prefix/lib/pkgconfig meson setup BUILD_DIR"
